// parse-prometheus-text-format ships no types: a family per metric name, samples as strings.
declare module 'parse-prometheus-text-format' {
  export default function parsePrometheusTextFormat(text: string): unknown[];
}
