//! Engine comparison benchmark (filled in below).
