"""The organism zoo: small organisms with real tokenizers and learnt quirks, built offline."""
