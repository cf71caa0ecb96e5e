"""The validator client: `coinium node --validator WALLET` votes on checkpoints with the
wallet's voting key, behind a slashing-protection record kept in the datadir."""
