// `gateway validate` in this process, of a config given as text: what a CI user sees (exit code
// and standard output) without spawning the CLI.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runValidate } from '../../src/cli/validate.ts';

/** Validates `text` written to a fresh `gateway.yaml`; its exit code, standard output and standard error. */
export async function validateText(text: string): Promise<{ code: number; out: string; err: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'tollgate-validate-'));
  const file = join(dir, 'gateway.yaml');
  writeFileSync(file, text);
  let out = '';
  let err = '';
  try {
    const code = await runValidate([file], {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
    });
    return { code, out, err };
  } finally {
    rmSync(dir, { recursive: true });
  }
}

/** `gateway validate` of a Kong 3.0 file's entities: its exit code, and what it printed on both streams. */
export async function validateEntities(yaml: string): Promise<{ code: number; out: string }> {
  const v = await validateText(`_format_version: "3.0"\n${yaml}`);
  return { code: v.code, out: v.out + v.err };
}
