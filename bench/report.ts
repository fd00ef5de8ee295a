/** Prints the one JSON line every bench ends with. */
export function report(line: { bench: string; metric: string; value: number; unit: string; target: string } & Record<string, unknown>): void {
  console.log(JSON.stringify(line));
}
