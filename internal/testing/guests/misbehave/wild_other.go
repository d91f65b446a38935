//go:build !wasip1

package main

func wildPointer() int32 { panic("misbehave: built for wasip1 only") }
