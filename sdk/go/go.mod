module callscribe.local/sdk/firststeps

go 1.19
