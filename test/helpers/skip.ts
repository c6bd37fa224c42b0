/**
 * What a suite does when a tool it drives (Chromium, Python with numpy/pandas, QGIS, GDAL,
 * npm's cache, …) is missing: on a developer machine it prints a loud `!!! SKIPPING` line and
 * the suite skips; on CI (`CI` set to anything but `false`/`0`) it throws, so the test file
 * fails: a green CI run means every suite ran.
 */
export const onCi = !!process.env.CI && !['false', '0'].includes(process.env.CI.toLowerCase());

/** Reports a suite that cannot run: a loud warning locally, a failure on CI. */
export function cannotRun(what: string, reason: string): void {
  const message = `${what} cannot run: ${reason}`;
  if (onCi) {
    throw new Error(`${message}\nCI is set, so this is a failure, not a skip: scripts/setup-system.mjs must install what every suite needs.`);
  }
  console.warn(`\n${'!'.repeat(90)}\n!!! SKIPPING ${message}\n${'!'.repeat(90)}\n`);
}
