fn main() {}
mod monitor;
