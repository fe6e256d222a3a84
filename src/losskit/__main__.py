from losskit.cli import main

main()
