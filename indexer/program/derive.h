/* derive.h: `paywatch derive`: deposit addresses of an extended public key
 * (BIP-32 public derivation, chains/codec/bip32.h), printed one per index.
 * It reads no config and touches nothing. */
#ifndef PW_DERIVE_H
#define PW_DERIVE_H

/* derive_cli: argv after "derive". Exit status: 0, or 2 (usage: a bad
 * xpub, path, range or kind, with the reason on stderr, never the key). */
int derive_cli(int argc, char **argv);

#endif
