module github.com/mastmq/mast

go 1.26
