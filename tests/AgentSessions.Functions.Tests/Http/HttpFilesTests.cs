using System.Text.Json;
using System.Text.RegularExpressions;
using AgentSessions.Functions.Auth;
using AgentSessions.Functions.Http;
using Microsoft.AspNetCore.Http;

namespace AgentSessions.Functions.Tests.Http;

/// <summary>
/// The <c>.http</c> file beside each feature's code: present, using the sample settings' keys, and every request one
/// the app routes (a request meant to show a 405 says so in its title).
/// </summary>
public sealed partial class HttpFilesTests
{
    private static readonly string Root = FindRoot();

    private static string App => Path.Combine(Root, "src", "AgentSessions.Functions");

    private static string FindRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Functions.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("no Functions.sln above the test output");
    }

    [Theory]
    [InlineData("Sessions/sessions.http")]
    [InlineData("Messages/messages.http")]
    [InlineData("Events/events.http")]
    [InlineData("Webhooks/webhooks.http")]
    [InlineData("Health/health.http")]
    public void FeatureHttpFile_UsesTheSampleKeys_AndOnlyRoutesTheAppServes(string file)
    {
        var path = Path.Combine(App, file);
        Assert.True(File.Exists(path), $"{file} is missing");
        var lines = File.ReadAllLines(path);

        using var sample = JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "local.settings.sample.json")));
        var keys = ApiKeyAuthenticator.Parse(sample.RootElement.GetProperty("Values").GetProperty(ApiKeyAuthenticator.SettingName).GetString());
        foreach (var key in lines.Select(l => ApiKeyLine().Match(l)).Where(m => m.Success).Select(m => m.Groups[1].Value))
        {
            Assert.True(keys.FindOwner(key) is not null, $"{file}: @apiKey {key} is not a key of local.settings.sample.json");
        }

        var routes = HttpRoutes.App.Where(r => !r.AnyMethod).ToList();
        var title = string.Empty;
        var requests = 0;
        foreach (var line in lines)
        {
            if (line.StartsWith("###", StringComparison.Ordinal))
            {
                title = line;
                continue;
            }

            var request = RequestLine().Match(line);
            if (!request.Success)
            {
                continue;
            }

            requests++;
            var method = request.Groups["method"].Value;
            var target = Variable().Replace(request.Groups["path"].Value, Guid.Empty.ToString("D")).Split('?')[0];
            var matching = routes.Where(r => r.Matches(new PathString(target))).ToList();
            Assert.True(matching.Count > 0, $"{file}: no function serves {target}");
            Assert.True(matching.Any(r => r.Methods.Contains(method)) || title.Contains("405", StringComparison.Ordinal),
                $"{file}: {method} {target} is not served ({string.Join("; ", matching)})");
        }

        Assert.True(requests > 0, $"{file} has no requests");
    }

    [GeneratedRegex(@"^@apiKey\s*=\s*(\S+)\s*$")]
    private static partial Regex ApiKeyLine();

    [GeneratedRegex(@"^(?<method>GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) \{\{baseUrl\}\}(?<path>/\S*)")]
    private static partial Regex RequestLine();

    [GeneratedRegex(@"\{\{\w+\}\}")]
    private static partial Regex Variable();
}
