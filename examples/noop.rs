//! The process floor of `bench/run.sh`: a program that starts and exits, built with
//! keyctl's own toolchain, profile and target, so that what `keyctl verify` costs above
//! it is keyctl's.

fn main() {}
