// `etlify/testing`: what users need to test their own mappings offline.
export { RecordingAdapter, type RecordedCall, type RecordingAdapterOptions } from './recording-adapter.ts';
export * from './simulators.ts';
export { waitForSyncQueue } from './wait.ts';
