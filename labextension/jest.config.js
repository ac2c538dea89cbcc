// Unit tests of the extension's pure logic, in Node (no browser, no JupyterLab):
// src/__tests__/*.spec.ts, compiled by ts-jest with tsconfig.test.json.
// @jupyter/ydoc (the real shared notebook model the inserts go through) ships only ES
// modules, so ts-jest compiles it to CommonJS too; its own dependencies ship CommonJS.
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src'],
  testMatch: ['**/__tests__/**/*.spec.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }],
    '^.+\\.js$': [
      'ts-jest',
      { tsconfig: { allowJs: true, module: 'commonjs', target: 'ES2019' }, isolatedModules: true }
    ]
  },
  transformIgnorePatterns: ['/node_modules/(?!@jupyter/ydoc/)']
};
