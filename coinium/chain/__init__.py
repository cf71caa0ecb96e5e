"""Chain state: block intake, fork choice by most work, connect/disconnect and reorgs."""
