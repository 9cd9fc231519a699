fn main() {
    // sqlx::migrate! embeds the folder; rebuild when a migration is added.
    println!("cargo:rerun-if-changed=migrations");
}
