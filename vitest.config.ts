import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

export default defineConfig({
  resolve: {
    // UDF files import from 'tilesmith'; inside this repository that is the package itself.
    alias: { tilesmith: fileURLToPath(new URL('./server/index.ts', import.meta.url)) },
  },
  test: {
    include: ['server/**/*.test.ts', 'client/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: keep heavy suites (Python workers, Chromium, QGIS) from fighting each other.
    maxWorkers: 2,
  },
});
