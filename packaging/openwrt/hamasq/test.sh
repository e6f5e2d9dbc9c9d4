#!/bin/sh
# OpenWrt's package test (CI runs it on the target): the binary starts.
case "$1" in
hamasq)
	hamasq --version | grep -F "$2" &&
	printf '[general]\npid-file = none\n' > /tmp/hamasq-test.conf &&
	hamasq --test -c /tmp/hamasq-test.conf
	;;
esac
