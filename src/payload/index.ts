export {
  definePayloadVersions,
  PayloadVersions,
  type MigratePayloadOptions,
  type PayloadMigration,
  type PayloadMigrationContext,
  type PayloadMigrationStep,
  type PayloadVersionChanges,
  type PayloadVersionsDefinition,
} from './definition.ts';
export { migratePayload, PayloadMigrationError, PayloadMigrator, type PayloadTarget } from './migrator.ts';
export {
  InvalidPayloadVersionError,
  PAYLOAD_VERSION_FORMATS,
  UnsupportedPayloadVersionError,
  type PayloadVersionFormat,
  type PayloadVersionInput,
} from './versions.ts';
