fn main() {
    eprintln!("netrig: command line not written yet");
    std::process::exit(2);
}
