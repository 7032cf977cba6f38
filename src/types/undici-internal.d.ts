// undici's internal table of well-known header names (see src/upstream/header-names.ts).
declare module 'undici/lib/core/constants.js' {
  export const headerNameLowerCasedRecord: Record<string, string>;
}
