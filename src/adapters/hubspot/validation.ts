import { isRecord, stringField } from '../http/json-values.ts';

/** One property HubSpot refused, with the message of the rule it broke. */
export interface PropertyViolation {
  property: string;
  message: string;
}

const NOT_VALID = 'Property values were not valid: ';

/**
 * The properties a HubSpot `VALIDATION_ERROR` names, from either of its shapes: `errors[]` items
 * (`in` or `context.propertyName` is the property; 2026-09 validation rules), or the message
 * `Property values were not valid: [{ "name", "message", "error" }]` of property checks.
 */
export function propertyViolations(body: unknown): PropertyViolation[] {
  if (!isRecord(body)) return [];
  const violations: PropertyViolation[] = [];
  for (const error of Array.isArray(body.errors) ? body.errors.filter(isRecord) : []) {
    const named = isRecord(error.context) && Array.isArray(error.context.propertyName) ? stringField(error.context.propertyName[0]) : undefined;
    const property = stringField(error.in) ?? named;
    const message = stringField(error.message);
    if (property && message) violations.push({ property, message });
  }
  const message = stringField(body.message);
  if (violations.length === 0 && message?.startsWith(NOT_VALID)) {
    try {
      const listed: unknown = JSON.parse(message.slice(NOT_VALID.length));
      for (const item of Array.isArray(listed) ? listed.filter(isRecord) : []) {
        const property = stringField(item.name);
        const reason = stringField(item.message) ?? stringField(item.error);
        if (property && reason) violations.push({ property, message: reason });
      }
    } catch {
      // not the JSON list: the message is reported as HubSpot wrote it
    }
  }
  return violations;
}

/** `property "zip": Must contain numbers only; …`, or HubSpot's own message when it names no property. */
export function describeViolations(body: unknown, fallback: string | undefined): string | undefined {
  const violations = propertyViolations(body);
  if (violations.length === 0) return fallback;
  return violations.map(({ property, message }) => `property "${property}": ${message}`).join('; ');
}
