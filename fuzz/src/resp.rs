//! Body of the `resp` fuzz target: the Redis reply parser (`cluster::resp::parse`) fed
//! arbitrary bytes, the way the cluster link reparses its read buffer as bytes arrive.
//! It must never panic or overflow the stack, and what it accepts must be consistent:
//! a complete value never claims more bytes than it was given, and a prefix of a complete
//! value is either incomplete or the same error class, never a different complete value.

use switchyard::cluster::resp;

pub fn run(data: &[u8]) {
    let mut at = 0;
    while at < data.len() {
        match resp::parse(&data[at..]) {
            Ok(Some((_, used))) => {
                assert!(used > 0 && used <= data.len() - at, "used {used} of {}", data.len() - at);
                for end in [at + used / 2, at + used - 1] {
                    if let Ok(Some((_, shorter))) = resp::parse(&data[at..end]) {
                        assert!(shorter <= end - at, "a prefix claimed more than it had");
                    }
                }
                at += used;
            }
            Ok(None) | Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn deep_nesting_and_garbage_do_not_crash() {
        super::run(&b"*1\r\n".repeat(100_000));
        super::run(b"*2\r\n$3\r\nabc\r\n:5\r\n+OK\r\n-ERR x\r\n$-1\r\n");
        super::run(b"$99999999999\r\n");
    }
}
