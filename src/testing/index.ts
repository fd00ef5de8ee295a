// `etlify/testing`: what users need to test their own mappings offline.
import '../check-node.ts';
export { RecordingAdapter, type RecordedCall, type RecordingAdapterOptions } from './recording-adapter.ts';
export * from './simulators.ts';
export { startEmbeddedPostgres, freePort, type EmbeddedPostgres, type EmbeddedPostgresOptions } from './embedded-postgres.ts';
export { waitForSyncQueue } from './wait.ts';
