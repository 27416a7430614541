using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using AgentSessions.Functions.Webhooks;
using AngleSharp.Dom;
using AngleSharp.Html.Parser;

namespace AgentSessions.Functions.Agents.Llm;

/// <summary>What <c>fetch_url</c> read: the page's text, or why there is none.</summary>
/// <param name="Url">The URL asked for.</param>
/// <param name="FinalUrl">Where the page was found after redirects.</param>
public sealed record FetchedPage(string Url, string? FinalUrl, int? Status, string? ContentType, string? Title, string? Text, bool Truncated, string? Error)
{
    public bool Succeeded => Error is null;
}

/// <summary>
/// The <c>fetch_url</c> tool: GET an http(s) page and turn it into plain text for the model. Unless the agent allows
/// private networks, it applies the webhook SSRF guard's rules (<see cref="WebhookUrlGuard.IsForbidden"/>) to every URL,
/// redirects included, and its client re-checks the address it actually connects to. Bounded in bytes read, characters
/// kept and time. Failures are results for the model, never exceptions.
/// </summary>
public sealed class PageFetcher(IHttpClientFactory httpClients, LlmAgentOptions options)
{
    /// <summary>Named client that connects only to public addresses; see <see cref="AgentHttpClientRegistration"/>.</summary>
    public const string HttpClientName = "llm-fetch";

    /// <summary>Named client without the address check, for agents with <see cref="LlmAgentOptions.FetchAllowPrivateNetworks"/>.</summary>
    public const string PrivateHttpClientName = "llm-fetch-private";

    public const int MaxRedirects = 5;

    private static readonly HashSet<string> HtmlTypes = new(StringComparer.OrdinalIgnoreCase) { "text/html", "application/xhtml+xml" };

    public async Task<FetchedPage> FetchAsync(string url, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (!Uri.TryCreate(url, UriKind.Absolute, out var target) || target.Scheme is not ("http" or "https"))
        {
            return Failed(url, null, "only absolute http and https URLs can be fetched");
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.FetchTimeout);
        var client = httpClients.CreateClient(options.FetchAllowPrivateNetworks ? PrivateHttpClientName : HttpClientName);
        try
        {
            for (var redirects = 0; ; redirects++)
            {
                if (await RefusalAsync(target, timeout.Token) is { } refusal)
                {
                    return Failed(url, target.AbsoluteUri, refusal);
                }

                using var request = new HttpRequestMessage(HttpMethod.Get, target);
                request.Headers.Accept.ParseAdd("text/html, application/xhtml+xml, text/plain;q=0.9, application/json;q=0.8, */*;q=0.1");
                request.Headers.UserAgent.Add(new ProductInfoHeaderValue("AgentSessions", "1.0"));
                request.Headers.UserAgent.Add(new ProductInfoHeaderValue("(fetch_url)"));
                using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
                var status = (int)response.StatusCode;
                if (status is >= 300 and < 400 && response.Headers.Location is { } location)
                {
                    if (redirects == MaxRedirects)
                    {
                        return Failed(url, target.AbsoluteUri, $"more than {MaxRedirects} redirects", status);
                    }

                    var next = location.IsAbsoluteUri ? location : new Uri(target, location);
                    if (next.Scheme is not ("http" or "https"))
                    {
                        return Failed(url, target.AbsoluteUri, $"redirected to a {next.Scheme} URL; only http and https can be fetched", status);
                    }

                    target = next;
                    continue;
                }

                if (!response.IsSuccessStatusCode)
                {
                    return Failed(url, target.AbsoluteUri, $"HTTP {status}" + (string.IsNullOrEmpty(response.ReasonPhrase) ? string.Empty : $" ({response.ReasonPhrase})"), status);
                }

                return await ReadAsync(url, target, response, timeout.Token);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Failed(url, target.AbsoluteUri, string.Create(CultureInfo.InvariantCulture, $"no complete answer within {options.FetchTimeout.TotalSeconds:0.###} s"));
        }
        catch (HttpRequestException failure)
        {
            return Failed(url, target.AbsoluteUri, "could not be fetched: " + failure.Message);
        }
        catch (IOException failure)
        {
            return Failed(url, target.AbsoluteUri, "the answer broke off: " + failure.Message);
        }
    }

    /// <summary>Why <paramref name="target"/> may not be fetched, or null: the webhook guard's address rules.</summary>
    private async Task<string?> RefusalAsync(Uri target, CancellationToken cancellationToken)
    {
        if (options.FetchAllowPrivateNetworks)
        {
            return null;
        }

        IPAddress[] addresses;
        try
        {
            addresses = await WebhookUrlGuard.ResolveAsync(WebhookUrlGuard.HostOf(target), cancellationToken);
        }
        catch (SocketException)
        {
            return "the host could not be resolved";
        }
        catch (ArgumentException)
        {
            return "the host is not a valid host name";
        }

        if (addresses.Length == 0)
        {
            return "the host could not be resolved";
        }

        return addresses.Any(WebhookUrlGuard.IsForbidden)
            ? "refused: the host is or resolves to a loopback, private, link-local or metadata address; only public addresses can be fetched"
            : null;
    }

    private async Task<FetchedPage> ReadAsync(string url, Uri target, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var mediaType = response.Content.Headers.ContentType?.MediaType ?? "application/octet-stream";
        var status = (int)response.StatusCode;
        var isHtml = HtmlTypes.Contains(mediaType);
        if (!isHtml && !IsText(mediaType))
        {
            return Failed(url, target.AbsoluteUri, $"the page is {mediaType}, not text or HTML", status) with { ContentType = mediaType };
        }

        var (bytes, cut) = await ReadBytesAsync(response, cancellationToken);
        var charset = response.Content.Headers.ContentType?.CharSet;
        string? title = null;
        string text;
        if (isHtml)
        {
            var parser = new HtmlParser();
            using var document = charset is null
                ? await parser.ParseDocumentAsync(new MemoryStream(bytes), cancellationToken)
                : parser.ParseDocument(Decode(bytes, charset));
            title = string.IsNullOrWhiteSpace(document.Title) ? null : document.Title.Trim();
            text = HtmlText.Of(document);
        }
        else
        {
            text = Decode(bytes, charset);
        }

        if (text.Length > options.FetchMaxChars)
        {
            text = text[..options.FetchMaxChars];
            cut = true;
        }

        return new FetchedPage(url, target.AbsoluteUri, status, mediaType, title, text, cut, null);
    }

    private async Task<(byte[] Bytes, bool Cut)> ReadBytesAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            var room = options.FetchMaxBytes - (int)buffer.Length;
            if (read >= room)
            {
                buffer.Write(chunk, 0, room);
                return (buffer.ToArray(), read > room || await stream.ReadAsync(chunk.AsMemory(0, 1), cancellationToken) > 0);
            }

            buffer.Write(chunk, 0, read);
        }

        return (buffer.ToArray(), false);
    }

    private static bool IsText(string mediaType) =>
        mediaType.StartsWith("text/", StringComparison.OrdinalIgnoreCase)
        || mediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase)
        || mediaType.EndsWith("+xml", StringComparison.OrdinalIgnoreCase)
        || mediaType is "application/json" or "application/xml" or "application/javascript";

    private static string Decode(byte[] bytes, string? charset)
    {
        var encoding = Encoding.UTF8;
        if (!string.IsNullOrWhiteSpace(charset))
        {
            try
            {
                // Legacy code pages (windows-1252, shift_jis, …) without registering a provider for the whole process.
                var name = charset.Trim('"', ' ');
                encoding = CodePagesEncodingProvider.Instance.GetEncoding(name) ?? Encoding.GetEncoding(name);
            }
            catch (Exception unknown) when (unknown is ArgumentException or NotSupportedException)
            {
                // An unknown charset: UTF-8 is the best guess for the web.
            }
        }

        return encoding.GetString(bytes);
    }

    private static FetchedPage Failed(string url, string? finalUrl, string error, int? status = null) =>
        new(url, finalUrl, status, null, null, null, false, error);
}

/// <summary>
/// The readable text of an HTML document: text nodes with whitespace collapsed, a line break around block elements,
/// list items marked, and nothing from scripts, styles or other non-content elements.
/// </summary>
public static class HtmlText
{
    private static readonly HashSet<string> Skipped = new(StringComparer.OrdinalIgnoreCase)
    {
        "script", "style", "noscript", "template", "svg", "canvas", "iframe", "object", "embed", "head", "select", "button",
    };

    private static readonly HashSet<string> Blocks = new(StringComparer.OrdinalIgnoreCase)
    {
        "address", "article", "aside", "blockquote", "body", "dd", "details", "div", "dl", "dt", "fieldset", "figcaption", "figure",
        "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section",
        "summary", "table", "tr", "ul", "caption", "thead", "tbody", "tfoot",
    };

    public static string Of(IDocument document)
    {
        ArgumentNullException.ThrowIfNull(document);
        var text = new StringBuilder();
        Append(document.Body ?? (INode)document.DocumentElement, text);
        return Normalize(text.ToString());
    }

    private static void Append(INode node, StringBuilder text)
    {
        switch (node)
        {
            case IText t:
                AppendCollapsed(t.Data, text);
                return;
            case IElement element when Skipped.Contains(element.LocalName):
                return;
            case IElement element:
                var name = element.LocalName;
                if (name == "br")
                {
                    text.Append('\n');
                    return;
                }

                var block = Blocks.Contains(name);
                if (block)
                {
                    text.Append('\n');
                }

                if (name == "li")
                {
                    text.Append("- ");
                }

                foreach (var child in element.ChildNodes)
                {
                    Append(child, text);
                }

                if (block)
                {
                    text.Append('\n');
                }
                else if (name is "td" or "th")
                {
                    text.Append(' ');
                }

                return;
            default:
                foreach (var child in node.ChildNodes)
                {
                    Append(child, text);
                }

                return;
        }
    }

    private static void AppendCollapsed(string data, StringBuilder text)
    {
        foreach (var c in data)
        {
            if (char.IsWhiteSpace(c))
            {
                if (text.Length > 0 && !char.IsWhiteSpace(text[^1]))
                {
                    text.Append(' ');
                }
            }
            else
            {
                text.Append(c);
            }
        }
    }

    /// <summary>One line per block, spaces collapsed, no empty lines: compact text costs the model fewer tokens.</summary>
    private static string Normalize(string raw) =>
        string.Join('\n', raw.Split('\n')
            .Select(line => string.Join(' ', line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)))
            .Where(line => line.Length > 0));
}
