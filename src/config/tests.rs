//! Tests of the config file, its errors, and the command-line overrides.

use super::*;
