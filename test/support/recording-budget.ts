import type { RemoteQuota, RequestBudget } from '../../src/interfaces.ts';

/** A request budget that grants everything and remembers what adapters asked and reported. */
export class RecordingBudget implements RequestBudget {
  readonly acquired: string[] = [];
  readonly reports: Array<{ bucket: string; quota: RemoteQuota }> = [];
  acquire(bucket = 'default'): Promise<void> {
    this.acquired.push(bucket);
    return Promise.resolve();
  }
  report(bucket: string, quota: RemoteQuota): void {
    this.reports.push({ bucket, quota });
  }
}
