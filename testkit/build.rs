//! Generates the server side of KurrentDB's gRPC protocol for the KurrentDB stand-in
//! (`testkit::kurrentdb`) from the vendored `.proto` files. `protox` parses them in Rust, so the
//! build needs no `protoc`; the google well-known types come with it.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = "protos/kurrentdb";
    let files = ["streams.proto", "serverfeatures.proto", "gossip.proto"].map(|file| format!("{dir}/{file}"));
    println!("cargo:rerun-if-changed={dir}");
    let descriptors = protox::compile(&files, [dir])?;
    tonic_build::configure().build_client(false).build_server(true).compile_fds(descriptors)?;
    Ok(())
}
