fn main() { painters::hello(); }
