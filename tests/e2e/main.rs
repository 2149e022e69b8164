fn main() {}
mod transport;
