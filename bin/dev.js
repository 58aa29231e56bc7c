#!/usr/bin/env -S node --import tsx --no-warnings
// roster from src/ (TypeScript through tsx), for development. CommonJS, as bin/package.json says.
/* global require, __dirname */
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS file (bin/package.json) */
const path = require('node:path')

require('@oclif/core').execute({development: true, dir: path.join(__dirname, '..')})
