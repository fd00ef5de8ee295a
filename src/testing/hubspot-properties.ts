/**
 * The portal's property definitions and validation rules in the HubSpot simulator, when a test gives
 * them: `GET /crm/properties/{version}/{type}`, `GET /crm/property-validations/{version}/{objectTypeId}`,
 * and the checks HubSpot makes on writes:
 * - a property the portal does not define is refused on date-based paths (v3 ignored it);
 * - a read-only property is refused;
 * - from `2026-09`, the portal's validation rules apply to API writes: property validation rules
 *   (`ALPHANUMERIC` / `NUMERIC_ONLY`) and conditionally required properties.
 */
import type { HubspotApiVersion } from '../adapters/hubspot/paths.ts';
import { canonicalType, objectTypeId } from './hubspot-associations.ts';
import type { SimulatorResponse } from './simulator-server.ts';

export interface SimulatedProperty {
  name: string;
  /** HubSpot's property type. Default `string`. */
  type?: 'string' | 'number' | 'bool' | 'date' | 'datetime' | 'enumeration';
  /** `modificationMetadata.readOnlyValue`: API writes are refused. */
  readOnly?: boolean;
}

export type SimulatedRule =
  /** A property validation rule: the value may hold digits only. */
  | { propertyName: string; ruleType: 'ALPHANUMERIC'; ruleArguments: ['NUMERIC_ONLY'] }
  /** An admin's conditionally required property: required once `when.property` holds `when.value`. */
  | { propertyName: string; requiredWhen: { property: string; value: string }; message?: string };

export interface Violation {
  name: string;
  error: string;
  message: string;
}

/** Properties every object has, which HubSpot sets itself. */
const BUILT_IN = new Set(['hs_object_id', 'createdate', 'lastmodifieddate']);

const FIELD_TYPES: Record<string, string> = { string: 'text', number: 'number', bool: 'booleancheckbox', date: 'date', datetime: 'date', enumeration: 'select' };

const ruleApplies = (version: HubspotApiVersion) => version !== 'v3' && version >= '2026-09';

export class PropertyCatalog {
  readonly #properties: Record<string, SimulatedProperty[]>;
  readonly #rules: Record<string, SimulatedRule[]>;

  constructor(properties: Record<string, SimulatedProperty[]> = {}, rules: Record<string, SimulatedRule[]> = {}) {
    const canonical = <T>(byType: Record<string, T>) => Object.fromEntries(Object.entries(byType).map(([type, value]) => [canonicalType(type), value]));
    this.#properties = canonical(properties);
    this.#rules = canonical(rules);
  }

  /** `GET …/properties/{version}/{type}`: the defined properties (`[]` for a type given none). */
  list(type: string): SimulatorResponse {
    const results = (this.#properties[canonicalType(type)] ?? []).map((property) => ({
      name: property.name,
      label: property.name,
      type: property.type ?? 'string',
      fieldType: FIELD_TYPES[property.type ?? 'string'],
      groupName: 'simulated',
      hasUniqueValue: false,
      hidden: false,
      modificationMetadata: { archivable: true, readOnlyDefinition: false, readOnlyValue: property.readOnly === true },
    }));
    return { status: 200, body: { results } };
  }

  /** `GET …/property-validations/{version}/{objectTypeId}`: the property validation rules. */
  validations(typeId: string): SimulatorResponse {
    const type = Object.keys(this.#rules).find((name) => name === canonicalType(typeId) || objectTypeId(name) === typeId);
    const byProperty = new Map<string, unknown[]>();
    for (const rule of type ? this.#rules[type]! : []) {
      if (!('ruleType' in rule)) continue;
      byProperty.set(rule.propertyName, [...(byProperty.get(rule.propertyName) ?? []), { ruleType: rule.ruleType, ruleArguments: rule.ruleArguments, shouldApplyNormalization: false }]);
    }
    return { status: 200, body: { results: [...byProperty].map(([propertyName, propertyValidationRules]) => ({ propertyName, propertyValidationRules })) } };
  }

  /** What HubSpot refuses in a write of `written` over an object holding `current`. */
  violations(type: string, version: HubspotApiVersion, written: Record<string, string>, current: Record<string, string> = {}): Violation[] {
    const defined = this.#properties[canonicalType(type)];
    const violations: Violation[] = [];
    for (const name of Object.keys(written)) {
      const property = defined?.find((candidate) => candidate.name === name);
      if (defined && !property && !BUILT_IN.has(name) && version !== 'v3') {
        violations.push({ name, error: 'PROPERTY_DOESNT_EXIST', message: `Property "${name}" does not exist` });
      } else if (property?.readOnly) {
        violations.push({ name, error: 'READ_ONLY_VALUE', message: `"${name}" is a read only property; its value cannot be set.` });
      }
    }
    if (!ruleApplies(version)) return violations;
    const after = { ...current, ...written };
    for (const rule of this.#rules[canonicalType(type)] ?? []) {
      const value = after[rule.propertyName] ?? '';
      if ('ruleType' in rule) {
        if (rule.propertyName in written && value !== '' && !/^\d+$/.test(value)) {
          violations.push({ name: rule.propertyName, error: 'INVALID_FORMAT', message: `${rule.propertyName} must contain numbers only` });
        }
      } else if (after[rule.requiredWhen.property] === rule.requiredWhen.value && value === '') {
        const message = rule.message ?? `${rule.propertyName} is required when ${rule.requiredWhen.property} is ${rule.requiredWhen.value}`;
        violations.push({ name: rule.propertyName, error: 'REQUIRED_PROPERTY', message });
      }
    }
    return violations;
  }
}
