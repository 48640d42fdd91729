from partbench.cli.main import main

main()
