#!/usr/bin/env node
import {execute} from '../dist/oclif.js'

await execute({dir: import.meta.url})
