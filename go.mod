module github.com/rummage/rummage

go 1.26.8
