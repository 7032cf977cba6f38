/**
 * `OTEL_RESOURCE_ATTRIBUTES`, which Kong Gateway 3.15's opentelemetry reads as resource attributes
 * beneath the plugin's `resource_attributes`. The OpenTelemetry specification's format: `key=value`
 * pairs separated by commas, each value percent-decoded (W3C Baggage's octets), spaces around
 * both trimmed. A value that does not decode, or a pair without `=` or without a key, makes the
 * whole variable invalid: the specification discards it, and so does this, with a reason.
 */
export function envResourceAttributes(
  text: string | undefined,
): { attributes: Record<string, string> } | { error: string } {
  const attributes: Record<string, string> = Object.create(null);
  if (text === undefined || text.trim() === '') return { attributes };
  for (const pair of text.split(',')) {
    if (pair.trim() === '') continue;
    const eq = pair.indexOf('=');
    const key = eq < 0 ? '' : pair.slice(0, eq).trim();
    if (key === '') return { error: `'${pair.trim()}' is not a key=value pair` };
    try {
      attributes[key] = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      return { error: `the value of ${key} is not percent-encoded text` };
    }
  }
  return { attributes };
}
