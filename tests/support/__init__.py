"""Helpers the tests share (not tests themselves): synthetic recordings, toy entries, a fake
``docker`` client, a loopback PhysioNet mirror, CPU kernel sets."""
