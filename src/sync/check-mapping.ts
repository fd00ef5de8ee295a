import type { MikroORM } from '@mikro-orm/core';
import { Etlify } from '../etlify.ts';
import type { CrmPayload, CrmPropertyDefinition } from '../interfaces.ts';
import { staleUnits } from '../stale/units.ts';
import { planSync } from './plan.ts';

/** A mapped property the CRM would refuse, or may refuse. */
export interface MappingProblem {
  property: string;
  problem: 'missing' | 'read-only' | 'type' | 'rule';
  message: string;
  /** The sampled payloads would be refused (a rule they comply with is reported, not refused). */
  refused: boolean;
}

export interface MappingReport {
  crm: string;
  entity: string;
  objectType: string;
  /** Payloads compared (a sample of the entity's records, serialized as a sync would). */
  sampled: number;
  problems: MappingProblem[];
}

/** Whether `value` is something the CRM converts to a property of `type` (`""` clears any type). */
function fitsType(type: string, value: unknown): boolean {
  if (value === null || value === '' || typeof value === 'object') return true;
  const text = String(value);
  switch (type) {
    case 'number':
      return typeof value === 'number' || /^-?\d+(\.\d+)?$/.test(text.trim());
    case 'bool':
      return typeof value === 'boolean' || text === 'true' || text === 'false';
    case 'date':
    case 'datetime':
      return typeof value === 'number' || !Number.isNaN(Date.parse(text));
    default:
      return true;
  }
}

/** Whether a value breaks a rule this check knows how to evaluate; undefined for rules it cannot. */
function breaks(rule: CrmPropertyDefinition['rules'][number], value: unknown): boolean | undefined {
  if (rule.rule === 'ALPHANUMERIC' && rule.arguments.includes('NUMERIC_ONLY')) return value !== '' && value != null && !/^\d+$/.test(String(value));
  return undefined;
}

/** Compares the payloads' properties with the CRM's definitions. */
export function checkPayloads(definitions: readonly CrmPropertyDefinition[], payloads: readonly CrmPayload[]): MappingProblem[] {
  const byName = new Map(definitions.map((definition) => [definition.name, definition]));
  const names = [...new Set(payloads.flatMap((payload) => Object.keys(payload)))];
  const problems: MappingProblem[] = [];
  for (const property of names) {
    const definition = byName.get(property);
    const values = payloads.filter((payload) => property in payload).map((payload) => payload[property]);
    if (!definition) {
      problems.push({ property, problem: 'missing', refused: true, message: `the CRM has no property "${property}": writes of it are refused (date-based HubSpot versions)` });
      continue;
    }
    if (definition.readOnly) problems.push({ property, problem: 'read-only', refused: true, message: `"${property}" is read-only in the CRM: writes of it are refused` });
    const misfit = values.find((value) => !fitsType(definition.type, value));
    if (misfit !== undefined) problems.push({ property, problem: 'type', refused: true, message: `"${property}" is of type ${definition.type} in the CRM; the payload holds ${JSON.stringify(misfit)}` });
    for (const rule of definition.rules) {
      const broken = values.filter((value) => breaks(rule, value) === true).length;
      const ruleName = `${rule.rule}${rule.arguments.length ? `(${rule.arguments.join(', ')})` : ''}`;
      const outcome = broken > 0 ? `${broken} of ${values.length} sampled payload(s) break it` : `the ${values.length} sampled payload(s) comply`;
      problems.push({ property, problem: 'rule', refused: broken > 0, message: `"${property}" is subject to the CRM rule ${ruleName}: ${outcome}` });
    }
  }
  return problems;
}

/**
 * For every CRM and entity whose adapter can describe its properties: serializes a sample of the
 * entity's records (newest first, as `etlify plan` does, no write) and compares the payloads with the
 * CRM's property definitions and validation rules. Reads the CRM (two requests per unit), writes nothing.
 */
export async function checkMappings(orm: MikroORM, options: { crm?: string; entities?: string[]; limit?: number } = {}): Promise<MappingReport[]> {
  const reports: MappingReport[] = [];
  for (const unit of staleUnits(Etlify.of(orm), orm.getMetadata(), options)) {
    const adapter = unit.crm.adapter;
    if (!adapter.describeProperties) continue;
    const pk = unit.meta.primaryKeys[0]!;
    const em = orm.em.fork({ clear: true, useContext: false });
    const sample = await em.find(unit.meta.class, {} as never, { fields: [pk] as never[], orderBy: { [pk]: 'desc' } as never, limit: options.limit ?? 20 });
    const planned = await planSync(orm, unit.crm.name, unit.entity, (sample as Array<Record<string, unknown>>).map((record) => String(record[pk])));
    const payloads = planned.flatMap((record) => (record.payload ? [record.payload] : []));
    const definitions = await adapter.describeProperties(unit.config.objectType);
    reports.push({ crm: unit.crm.name, entity: unit.entity, objectType: unit.config.objectType, sampled: payloads.length, problems: checkPayloads(definitions, payloads) });
  }
  return reports;
}
