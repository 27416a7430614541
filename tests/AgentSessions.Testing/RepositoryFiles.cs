namespace AgentSessions.Testing;

/// <summary>Files of the repository that tests, the test worker and the benchmark read at run time.</summary>
public static class RepositoryFiles
{
    /// <summary>The folder with <c>Functions.sln</c>, found above the running program.</summary>
    public static string Root { get; } = FindRoot();

    public static string HostJson => Path.Combine(Root, "host.json");

    private static string FindRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Functions.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException(
            $"Cannot find the repository root (the folder with Functions.sln) above {AppContext.BaseDirectory}.");
    }
}
