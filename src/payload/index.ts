export { definePayloadVersions, migratePayload, PayloadVersions, type PayloadVersionsDefinition } from './definition.ts';
export {
  type MigratePayloadOptions,
  type PayloadMigration,
  type PayloadMigrationContext,
  type PayloadMigrationStep,
  type PayloadVersionChanges,
} from './migration.ts';
export { PayloadMigrationError, PayloadMigrator, type PayloadTarget } from './migrator.ts';
export {
  InvalidPayloadVersionError,
  PAYLOAD_VERSION_FORMATS,
  UnsupportedPayloadVersionError,
  type PayloadVersionFormat,
  type PayloadVersionInput,
} from './versions.ts';
