/**
 * The oldest Node.js Etlify runs on: undici 8 and `.ts` configurations (type stripping on by default)
 * need 22.18. Checked before anything else loads, so an older Node gets this sentence rather than a
 * crash inside a dependency.
 */
export const MIN_NODE = [22, 18] as const;

/** Undefined when this Node is recent enough; otherwise what to tell the user. */
export function unsupportedNodeMessage(version = process.versions.node): string | undefined {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major > MIN_NODE[0] || (major === MIN_NODE[0] && minor >= MIN_NODE[1])) return undefined;
  return `Etlify needs Node ≥ ${MIN_NODE.join('.')} (found v${version}): install Node 22.18 or newer (e.g. \`nvm install 24\`) and run it again`;
}
