from coinium.cli import main

main()
