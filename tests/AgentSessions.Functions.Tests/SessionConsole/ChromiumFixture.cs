using Microsoft.Playwright;

namespace AgentSessions.Functions.Tests.SessionConsole;

/// <summary>
/// Debian's Chromium (<c>/usr/bin/chromium</c>, which scripts/test.sh installs when it is missing) driven by Playwright
/// for .NET. Playwright's driver ships inside its NuGet package; its own browser download is never used (it cannot
/// work offline), so the browser is always the system one, given by path.
/// </summary>
public sealed class ChromiumFixture : IAsyncLifetime
{
    /// <summary>Overrides the browser's path, e.g. on a machine where Chromium lives elsewhere.</summary>
    public const string PathVariable = "CHROMIUM_PATH";

    public const string DefaultPath = "/usr/bin/chromium";

    /// <summary>
    /// Headless and quiet: no sandbox (CI runs as root), no GPU, and none of Chromium's background connections, which
    /// this machine's closed network refuses (each would otherwise be retried and logged).
    /// </summary>
    private static readonly string[] Flags =
    [
        "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-default-apps",
    ];

    private IPlaywright? playwright;

    public IBrowser Browser { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var path = Environment.GetEnvironmentVariable(PathVariable) is { Length: > 0 } custom ? custom : DefaultPath;
        if (!File.Exists(path))
        {
            throw new InvalidOperationException(
                $"No Chromium at {path}: the browser tests need Debian's chromium package (scripts/test.sh installs it with apt-get), " +
                $"or set {PathVariable} to a Chromium executable.");
        }

        playwright = await Playwright.CreateAsync();
        Browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = path,
            Headless = true,
            Args = Flags,
            Timeout = 60_000,
        });
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }

        playwright?.Dispose();
    }
}
