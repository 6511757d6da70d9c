'use strict';
// Fails at import time, as a missing dependency does on AWS.
require('a-module-that-is-not-installed');
exports.handler = async () => 'never';
