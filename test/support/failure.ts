import { CrmError } from '../../src/errors.ts';

/** The `CrmError` a call failed with; any other outcome (success, another error) fails the test. */
export async function failure(promise: Promise<unknown>): Promise<CrmError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CrmError) return error;
    throw error;
  }
  throw new Error('expected the request to fail');
}
