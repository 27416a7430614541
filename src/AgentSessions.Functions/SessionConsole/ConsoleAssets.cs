using System.Collections.Frozen;
using System.Security.Cryptography;

namespace AgentSessions.Functions.SessionConsole;

/// <summary>One file of the console as served: its bytes, media type and entity tag.</summary>
public sealed record ConsoleAsset(string Path, byte[] Content, string ContentType, string ETag);

/// <summary>
/// The console's static files, read once from the <c>console</c> folder the build puts beside the app's assembly
/// (<c>Console/wwwroot</c> plus the pinned npm libraries under <c>vendor/</c>). Only files found there are ever served,
/// so no request path can reach anything else on disk.
/// </summary>
public sealed class ConsoleAssets
{
    public const string FolderName = "console";

    private static readonly Lazy<ConsoleAssets> Installed = new(() => Load(Path.Combine(AppContext.BaseDirectory, FolderName)));

    private static readonly FrozenDictionary<string, string> MediaTypes = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".svg"] = "image/svg+xml",
        [".png"] = "image/png",
        [".json"] = "application/json; charset=utf-8",
        [".map"] = "application/json; charset=utf-8",
        [".txt"] = "text/plain; charset=utf-8",
        [""] = "text/plain; charset=utf-8", // LICENSE
    }.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase);

    private readonly FrozenDictionary<string, ConsoleAsset> files;

    private ConsoleAssets(FrozenDictionary<string, ConsoleAsset> files) => this.files = files;

    /// <summary>The files installed with the app.</summary>
    public static ConsoleAssets Default => Installed.Value;

    public IEnumerable<string> Paths => files.Keys;

    public static ConsoleAssets Load(string folder)
    {
        if (!File.Exists(Path.Combine(folder, "index.html")))
        {
            throw new InvalidOperationException($"The console's files are missing: no index.html in {folder}. Build the app with 'dotnet build' (it copies them).");
        }

        var files = new Dictionary<string, ConsoleAsset>(StringComparer.Ordinal);
        foreach (var file in Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(folder, file).Replace(Path.DirectorySeparatorChar, '/');
            var content = File.ReadAllBytes(file);
            var type = MediaTypes.GetValueOrDefault(Path.GetExtension(file), "application/octet-stream");
            var etag = "\"" + Convert.ToHexString(SHA256.HashData(content), 0, 8).ToLowerInvariant() + "\"";
            files[relative] = new ConsoleAsset(relative, content, type, etag);
        }

        return new ConsoleAssets(files.ToFrozenDictionary(StringComparer.Ordinal));
    }

    /// <summary>
    /// The file at <paramref name="path"/> (relative, '/'-separated; empty is <c>index.html</c>). A module path
    /// without an extension finds its <c>.js</c> file, as a bundler would: the ES module build of
    /// <c>@microsoft/fetch-event-source</c> imports <c>./fetch</c> and <c>./parse</c> that way.
    /// </summary>
    public ConsoleAsset? Find(string path)
    {
        if (path.Length == 0)
        {
            path = "index.html";
        }

        return files.GetValueOrDefault(path)
            ?? (Path.GetExtension(path).Length == 0 && path.StartsWith("vendor/", StringComparison.Ordinal)
                ? files.GetValueOrDefault(path + ".js")
                : null);
    }
}
