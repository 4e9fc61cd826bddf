mod common;
use common::Env;

#[test]
fn create_then_verify() {
    let env = Env::new();
    let token = env.create(&["--user", "svc"]);
    let (code, v) = env.verify(&token, &[]);
    assert_eq!(code, 0);
    assert_eq!(v["valid"], true);
}
