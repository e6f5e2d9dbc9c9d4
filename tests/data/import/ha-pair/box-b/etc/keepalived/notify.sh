#!/bin/sh
# keepalived notify: $1=INSTANCE $2=name $3=state $4=priority
logger -t vrrp "$2 is now $3"
