"""What the tests use and are not tests themselves: servers they start on 127.0.0.1 (moto's AWS,
sshd, a Hadoop cluster), real Hadoop resolved from Maven Central, and the tests' own oracles
(Hadoop's splitArgs ported, the job contract's reference)."""
